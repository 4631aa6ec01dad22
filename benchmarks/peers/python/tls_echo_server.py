# uvloop's echo server over TLS (the streams variant of uvloop's published
# benchmark server), for benchmarks/peers/tls_echo.sh.
# usage: tls_echo_server.py PORT CERT KEY   (needs uvloop)
import asyncio, ssl, sys

import uvloop


async def handle(reader, writer):
    while data := await reader.read(102400):
        writer.write(data)
        await writer.drain()
    writer.close()


async def main(port, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(handle, '127.0.0.1', port, ssl=ctx, backlog=1024)
    await server.serve_forever()

if hasattr(uvloop, "run"):  # uvloop 0.18+
    uvloop.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
else:  # uvloop 0.17 (Debian 12's python3-uvloop)
    uvloop.install()
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
