"""Storage through libvirt: a host's storage directory as a libvirt storage pool (type dir),
and volumes copied between two connections with storage streams.

Everything here goes through the libvirt connection, never the local filesystem, so it
works the same whether the connection is qemu:///system or qemu+ssh://host/system. The
functions block (libvirt is a blocking library); the driver runs them in threads.

Pools: the pool whose target path is the storage directory is used whatever its name (an
operator may have defined one); without one, a persistent, autostarted pool is defined and
started, named after the directory (`vpsorg-<last components>-<hash of the path>`) with a
UUID derived from that name, so two workers defining it at once define the same pool.
"""

import hashlib
import os
import re
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import libvirt

from vpsorg.drivers.libvirt.errors import ERR_OPERATION_INVALID

CHUNK = 1024 * 1024
_NAMESPACE = uuid.UUID("6a0f5b8e-3d0e-4c43-8a55-7670736f6f6c")
_NO_STORAGE_VOL = 50  # VIR_ERR_NO_STORAGE_VOL


def pool_name(path: str) -> str:
    """The name of the pool this driver defines for a directory: readable and unique."""
    norm = os.path.normpath(path)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", norm.strip("/")).strip("-")[-40:] or "root"
    return f"vpsorg-{slug}-{hashlib.sha256(norm.encode()).hexdigest()[:8]}"


def pool_xml(name: str, path: str) -> str:
    return (
        f"<pool type='dir'><name>{escape(name)}</name>"
        f"<uuid>{uuid.uuid5(_NAMESPACE, name)}</uuid>"
        f"<target><path>{escape(os.path.normpath(path))}</path>"
        "<permissions><mode>0755</mode></permissions></target></pool>"
    )


def _target_path(pool: libvirt.virStoragePool) -> str | None:
    path = ET.fromstring(pool.XMLDesc(0)).findtext("./target/path")
    return os.path.normpath(path) if path else None


def find_pool(conn: libvirt.virConnect, path: str) -> libvirt.virStoragePool | None:
    """The pool (active or not) whose target is the directory `path`, if any."""
    norm = os.path.normpath(path)
    for pool in conn.listAllStoragePools(0):
        if _target_path(pool) == norm:
            return pool
    return None


def _start(pool: libvirt.virStoragePool) -> None:
    if pool.isActive():
        return
    try:
        pool.build(0)  # makes the directory where it is missing (0755)
    except libvirt.libvirtError:
        pass  # not needed, or not supported: starting the pool says what is wrong
    try:
        pool.create(0)
    except libvirt.libvirtError as e:
        if e.get_error_code() != ERR_OPERATION_INVALID or not pool.isActive():
            raise  # OPERATION_INVALID with the pool active: another worker started it


def ensure_pool(conn: libvirt.virConnect, path: str) -> libvirt.virStoragePool:
    """The active pool of the directory `path`: found by its target path, else defined
    (persistent, autostarted) and started. Idempotent, and safe against a concurrent call."""
    pool = find_pool(conn, path)
    if pool is None:
        try:
            pool = conn.storagePoolDefineXML(pool_xml(pool_name(path), path), 0)
        except libvirt.libvirtError:
            pool = find_pool(conn, path)  # defined meanwhile by another worker
            if pool is None:
                raise
        try:
            pool.setAutostart(1)
        except libvirt.libvirtError:
            pass  # a hypervisor without autostart: the driver starts the pool when it needs it
    _start(pool)
    return pool


def volume(pool: libvirt.virStoragePool, name: str) -> libvirt.virStorageVol | None:
    try:
        return pool.storageVolLookupByName(name)
    except libvirt.libvirtError as e:
        if e.get_error_code() == _NO_STORAGE_VOL:
            return None
        raise


def delete_volume(pool: libvirt.virStoragePool, name: str) -> None:
    vol = volume(pool, name)
    if vol is not None:
        try:
            vol.delete(0)
        except libvirt.libvirtError as e:
            if e.get_error_code() != _NO_STORAGE_VOL:
                raise


def new_volume(pool: libvirt.virStoragePool, name: str) -> libvirt.virStorageVol:
    """An empty volume `name` (replacing any volume of that name), for an upload."""
    delete_volume(pool, name)
    return pool.createXML(
        f"<volume><name>{escape(name)}</name><capacity>0</capacity><allocation>0</allocation>"
        "<target><format type='raw'/><permissions><mode>0644</mode></permissions></target></volume>",
        0,
    )


def physical_size(vol: libvirt.virStorageVol) -> int | None:
    """The volume's size on the host in bytes (its file's length), where libvirt says."""
    text = ET.fromstring(vol.XMLDesc(0)).findtext("./physical")
    return int(text) if text else None


def backing_path(vol: libvirt.virStorageVol) -> str | None:
    """The backing file a qcow2 volume names in its header, if any."""
    return ET.fromstring(vol.XMLDesc(0)).findtext("./backingStore/path") or None


def _send_all(stream: libvirt.virStream, data: bytes) -> None:
    view = memoryview(data)
    while view:
        sent = stream.send(bytes(view[:CHUNK]))
        if sent < 0:
            raise RuntimeError(f"stream send returned {sent}")
        view = view[sent:]


def _abort(*streams: libvirt.virStream) -> None:
    for stream in streams:
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass


def copy_volume(
    src_conn: libvirt.virConnect,
    src: libvirt.virStorageVol,
    dst_conn: libvirt.virConnect,
    dst: libvirt.virStorageVol,
) -> int:
    """Stream the whole of `src` (download on its connection) into `dst` (upload on its
    own); the bytes copied. Either connection may be remote: the data flows through this
    process, from one libvirtd to the other."""
    down = src_conn.newStream(0)
    up = dst_conn.newStream(0)
    src.download(down, 0, 0, 0)
    try:
        dst.upload(up, 0, 0, 0)
    except BaseException:
        _abort(down)
        raise
    total = 0
    try:
        while True:
            chunk = down.recv(CHUNK)
            if isinstance(chunk, int):  # -2: would block; only non-blocking streams say so
                raise RuntimeError(f"stream receive returned {chunk}")
            if not chunk:
                break
            _send_all(up, chunk)
            total += len(chunk)
        down.finish()
        up.finish()
    except BaseException:
        _abort(down, up)
        raise
    return total


def download_bytes(conn: libvirt.virConnect, vol: libvirt.virStorageVol, limit: int) -> bytes:
    """A small volume's content (at most `limit` bytes, else ValueError)."""
    stream = conn.newStream(0)
    vol.download(stream, 0, 0, 0)
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = stream.recv(CHUNK)
            if isinstance(chunk, int):
                raise RuntimeError(f"stream receive returned {chunk}")
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise ValueError(f"volume {vol.name()} is larger than {limit} bytes")
            parts.append(chunk)
        stream.finish()
    except BaseException:
        _abort(stream)
        raise
    return b"".join(parts)


def upload_bytes(conn: libvirt.virConnect, vol: libvirt.virStorageVol, data: bytes) -> None:
    stream = conn.newStream(0)
    vol.upload(stream, 0, len(data), 0)
    try:
        _send_all(stream, data)
        stream.finish()
    except BaseException:
        _abort(stream)
        raise


def file_exists(conn: libvirt.virConnect, path: str) -> bool:
    """Whether `path` is a file on the connection's host, asked through libvirt: through the
    pool of its directory, or a transient pool made for the question (a directory that does
    not exist cannot be a pool: False)."""
    directory, name = os.path.split(os.path.normpath(path))
    pool = find_pool(conn, directory)
    transient = None
    if pool is not None:
        _start(pool)
    else:
        probe = f"vpsorg-probe-{hashlib.sha256(directory.encode()).hexdigest()[:12]}"
        try:  # left over by a crash between the two calls below
            conn.storagePoolLookupByName(probe).destroy()
        except libvirt.libvirtError:
            pass
        try:
            transient = pool = conn.storagePoolCreateXML(
                f"<pool type='dir'><name>{probe}</name><target><path>{escape(directory)}</path>"
                "</target></pool>",
                0,
            )
        except libvirt.libvirtError:
            return False
    try:
        pool.refresh(0)
        return volume(pool, name) is not None
    finally:
        if transient is not None:
            try:
                transient.destroy()
            except libvirt.libvirtError:
                pass
