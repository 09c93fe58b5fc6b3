#!/usr/bin/python3
"""A read-only FUSE view of SRC at MNT whose reads fail with a real EIO from byte FAIL_AT on.

Used by test/integration/faults.test.ts to give the CLI and server a kernel read error half-way
through an input (Debian's python3-fusepy; run as root, unmount with `umount MNT`).

    eio-fs.py SRC MNT FAIL_AT
"""
import errno
import os
import sys

from fusepy import FUSE, FuseOSError, Operations


class FailingView(Operations):
    def __init__(self, src, fail_at):
        self.src = src
        self.fail_at = fail_at

    def _path(self, p):
        return os.path.join(self.src, p.lstrip('/'))

    def getattr(self, p, fh=None):
        try:
            st = os.lstat(self._path(p))
        except FileNotFoundError:
            raise FuseOSError(errno.ENOENT)
        keys = ('st_mode', 'st_size', 'st_nlink', 'st_uid', 'st_gid', 'st_atime', 'st_mtime', 'st_ctime')
        return {k: getattr(st, k) for k in keys}

    def readdir(self, p, fh):
        return ['.', '..'] + os.listdir(self._path(p))

    def open(self, p, flags):
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise FuseOSError(errno.EROFS)
        return os.open(self._path(p), os.O_RDONLY)

    def read(self, p, size, offset, fh):
        if offset + size > self.fail_at:
            raise FuseOSError(errno.EIO)
        return os.pread(fh, size, offset)

    def release(self, p, fh):
        os.close(fh)


if __name__ == '__main__':
    src, mnt, fail_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # direct_io: every read reaches read() above (no page cache hiding the failure)
    FUSE(FailingView(src, fail_at), mnt, foreground=True, ro=True, direct_io=True)
