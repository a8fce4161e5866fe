"""aiofiles on oxloop and on asyncio: file I/O run through `run_in_executor`.

aiofiles hands every blocking call to the loop's default executor, which on
oxloop is `oxloop.ThreadPoolExecutor`. Text and binary reads and writes,
line iteration, seek/tell, `aiofiles.os` and `aiofiles.tempfile`, and many
files at once. Same assertions on both loops (the `real_loop` fixture).
"""

import asyncio
import hashlib
import os

import aiofiles
import aiofiles.os
import aiofiles.tempfile
import oxloop


def test_read_write_text_and_binary(real_loop, tmp_path):
    async def main():
        text_path = tmp_path / "lines.txt"
        async with aiofiles.open(text_path, "w", encoding="utf-8") as f:
            for i in range(1000):
                await f.write(f"line {i} é\n")
        async with aiofiles.open(text_path, encoding="utf-8") as f:
            lines = [line async for line in f]
        assert lines == [f"line {i} é\n" for i in range(1000)]

        blob = os.urandom(3 * 1024 * 1024)
        bin_path = tmp_path / "blob.bin"
        async with aiofiles.open(bin_path, "wb") as f:
            await f.write(blob)
            await f.flush()
            assert await f.tell() == len(blob)
        async with aiofiles.open(bin_path, "rb") as f:
            head = await f.read(10)
            await f.seek(-10, os.SEEK_END)
            tail = await f.read()
            await f.seek(0)
            digest = hashlib.sha256()
            while chunk := await f.read(200_000):
                digest.update(chunk)
        assert (head, tail) == (blob[:10], blob[-10:])
        assert digest.digest() == hashlib.sha256(blob).digest()

        async with aiofiles.open(bin_path, "r+b") as f:
            await f.seek(5)
            await f.write(b"XYZ")
        async with aiofiles.open(bin_path, "rb") as f:
            assert (await f.read(10))[5:8] == b"XYZ"

    real_loop(main)


def test_os_and_tempfile_and_concurrency(real_loop, tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        path = tmp_path / "a.txt"
        async with aiofiles.open(path, "w") as f:
            await f.write("abc")
        st = await aiofiles.os.stat(path)
        assert st.st_size == 3
        assert await aiofiles.os.path.exists(path)
        await aiofiles.os.rename(path, tmp_path / "b.txt")
        assert not await aiofiles.os.path.exists(path)
        await aiofiles.os.mkdir(tmp_path / "sub")
        assert sorted(await aiofiles.os.listdir(tmp_path)) == ["b.txt", "sub"]
        await aiofiles.os.remove(tmp_path / "b.txt")

        async with aiofiles.tempfile.TemporaryDirectory(dir=tmp_path) as d:
            async with aiofiles.tempfile.NamedTemporaryFile("w+", dir=d) as tf:
                await tf.write("temp")
                await tf.seek(0)
                assert await tf.read() == "temp"
        assert not os.path.exists(d)

        async def one(i):
            p = tmp_path / "sub" / f"{i}.bin"
            data = bytes([i]) * (i * 1000 + 1)
            async with aiofiles.open(p, "wb") as f:
                await f.write(data)
            async with aiofiles.open(p, "rb") as f:
                return await f.read() == data

        assert await asyncio.gather(*(one(i) for i in range(64))) == [True] * 64
        if isinstance(loop, oxloop.Loop):
            assert isinstance(loop._default_executor, oxloop.ThreadPoolExecutor)

    real_loop(main)
