# Python twin of https_client.cpp: an HTTPS request to a local TLS server
# started here, with a certificate made by the openssl command line.
import asyncio, os, ssl, subprocess, tempfile


def make_certificate():
    d = tempfile.mkdtemp(prefix='https-example-')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                    '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
                    '-keyout', d + '/key.pem', '-out', d + '/cert.pem'], check=True, capture_output=True)
    return d


async def handle(reader, writer):
    request = await reader.readuntil(b'\r\n\r\n')
    body = b'Hello over TLS\n' if request.startswith(b'GET / ') else b'Not found\n'
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n'
                 b'Connection: close\r\n\r\n' % len(body) + body)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def main(d):
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(d + '/cert.pem', d + '/key.pem')
    server = await asyncio.start_server(handle, '127.0.0.1', 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    print('server listening')

    ctx = ssl.create_default_context(cafile=d + '/cert.pem')
    reader, writer = await asyncio.open_connection('127.0.0.1', port, ssl=ctx, server_hostname='localhost')
    writer.write(b'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    response = await reader.read()
    print(response.split(b'\r\n')[0].decode())
    print(response.split(b'\r\n\r\n', 1)[1].decode(), end='')
    print(writer.get_extra_info('ssl_object').version())
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()


d = make_certificate()
try:
    asyncio.run(main(d))
finally:
    subprocess.run(['rm', '-rf', d])
