# The Python twin of request_ids.cpp: a server that logs a request id per
# connection through a ContextVar, without passing it around; the helpers,
# a second step and a worker thread (to_thread) all see the id of the
# connection they work for. The test example.request_ids compares outputs.
import asyncio
import contextvars

request_id = contextvars.ContextVar('request_id', default='-')
connections = 0


def log(message):
    print(f'[{request_id.get()}] {message}')


def checksum(text):
    # Runs in a worker thread, in a copy of the caller's context.
    log(f'checksum of {text!r} in a thread')
    return sum(text.encode()) % 256


async def reply_to(line):
    await asyncio.sleep(0)  # a later step of the task: the id is still there
    total = await asyncio.to_thread(checksum, line)
    log(f'replying to {line!r}')
    return f'{line.upper()} {total}\n'


async def handle(reader, writer):
    global connections
    connections += 1
    request_id.set(f'conn-{connections}')  # this connection's task only
    log('connected')
    while True:
        line = (await reader.readline()).decode().strip()
        log(f'received {line!r}')
        writer.write((await reply_to(line)).encode())
        await writer.drain()
        if line == 'bye':
            break
    log('closing')
    writer.close()
    await writer.wait_closed()


async def client(port, name, lines):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    for line in lines:
        writer.write(f'{line}\n'.encode())
        answer = (await reader.readline()).decode().strip()
        print(f'{name} got {answer!r}')
    await reader.read()  # until the server has closed
    writer.close()
    await writer.wait_closed()


async def main():
    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await client(port, 'alice', ['hello', 'bye'])
        await client(port, 'bob', ['ping', 'bye'])
    log('main is done')


asyncio.run(main())
