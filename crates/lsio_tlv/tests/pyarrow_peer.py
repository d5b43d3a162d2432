"""pyarrow on the other end of lsio_tlv's plain Arrow IPC sockets (driven by tests/pyarrow.rs).

    pyarrow_peer.py client PORT ROWS   connect to 127.0.0.1:PORT, read the Arrow IPC stream with
                                       pyarrow.ipc.open_stream, check it is the expected table
    pyarrow_peer.py server ROWS        listen on 127.0.0.1:0, print the port, send the expected
                                       table to the first client with pyarrow.ipc.new_stream
    pyarrow_peer.py write-file PATH ROWS
                                       write the expected table as an Arrow IPC file

The expected table of ROWS rows: id int64 = i, x float64 = i / 2, name utf8 = "row-{i}".
"""

import socket
import sys

import pyarrow as pa


def expected(rows: int) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(rows), type=pa.int64()),
            "x": pa.array([i * 0.5 for i in range(rows)], type=pa.float64()),
            "name": pa.array([f"row-{i}" for i in range(rows)], type=pa.string()),
        }
    )


def client(port: int, rows: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        with sock.makefile("rb") as f:
            table = pa.ipc.open_stream(f).read_all()
    want = expected(rows)
    if not table.equals(want):
        sys.exit(f"mismatch: got {table.num_rows} rows, schema {table.schema}; want {want.num_rows} rows, schema {want.schema}")
    print(f"ok {table.num_rows} rows in {table.column('id').num_chunks} batches")


def server(rows: int) -> None:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        print(srv.getsockname()[1], flush=True)
        srv.settimeout(60)
        conn, _ = srv.accept()
        with conn:
            table = expected(rows)
            with conn.makefile("wb") as f:
                with pa.ipc.new_stream(f, table.schema) as writer:
                    for batch in table.to_batches(max_chunksize=1000):
                        writer.write_batch(batch)
            conn.shutdown(socket.SHUT_WR)


def write_file(path: str, rows: int) -> None:
    table = expected(rows)
    with pa.OSFile(path, "wb") as f:
        with pa.ipc.new_file(f, table.schema) as writer:
            for batch in table.to_batches(max_chunksize=1000):
                writer.write_batch(batch)


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "write-file":
        write_file(sys.argv[2], int(sys.argv[3]))
    else:
        server(int(sys.argv[2]))
