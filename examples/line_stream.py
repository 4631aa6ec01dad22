# The Python twin of line_stream.cpp: a server started on 127.0.0.1 port 0
# sends a few lines; the client reads them through an async generator that
# numbers them, with `async for` on both levels.
import asyncio

LINES = ["the quick brown fox", "jumps over", "the lazy dog"]


async def handle(reader, writer):
    for line in LINES:
        writer.write(f"{line}\n".encode())
        await writer.drain()
        await asyncio.sleep(0.01)
    writer.close()
    await writer.wait_closed()


async def numbered(reader):
    """An async generator: the server's lines, numbered."""
    n = 0
    async for line in reader:
        n += 1
        yield f"{n}: {line.decode().rstrip(chr(10))}"


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    async for line in numbered(reader):
        print(line)
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    print("the server closed the stream")


asyncio.run(main())
