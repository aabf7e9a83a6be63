#!/usr/bin/python3
"""guestfwd relay: QEMU's slirp runs this for each guest connection to a
host peer, with the guest's connection on stdin/stdout; it connects to the
peer on loopback (only loopback: anything else is refused) and copies both
ways until either side closes."""
import os
import select
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    if host != "127.0.0.1":
        sys.exit("relay: only 127.0.0.1 is allowed")
    try:
        peer = socket.create_connection((host, port), timeout=5)
    except OSError:
        sys.exit(1)  # the guest sees its connection closed
    peer.settimeout(None)
    fin, fout = sys.stdin.fileno(), sys.stdout.fileno()
    guest_open, peer_open = True, True
    while guest_open or peer_open:
        rl = ([fin] if guest_open else []) + ([peer] if peer_open else [])
        r, _, _ = select.select(rl, [], [])
        if fin in r:
            d = os.read(fin, 65536)
            if d:
                peer.sendall(d)
            else:
                guest_open = False
                try:
                    peer.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        if peer in r:
            try:
                d = peer.recv(65536)
            except ConnectionResetError:
                d = b""
            if d:
                os.write(fout, d)
            else:
                peer_open = False
                try:  # stdin and stdout are one socket: a FIN needs shutdown
                    socket.socket(fileno=os.dup(fout)).shutdown(socket.SHUT_WR)
                except OSError:
                    os.close(fout)
                if not guest_open:
                    break
    return 0


if __name__ == "__main__":
    sys.exit(main())
