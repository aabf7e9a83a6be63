"""crashdet: CPU exception dumps, ASSERTs, resets and hangs, on planted output
(samples written in the format EDK2's CpuExceptionHandlerLib and DebugLib print)."""
import json
import struct

from fwnet import crashdet

BOOT = ("BdsDxe: failed to load Boot0001 \"UEFI QEMU DVD-ROM QM00003 \" from PciRoot(0x0)/Pci(0x1F,0x2)/"
        "Sata(0x0,0xFFFF,0x0): Not Found\r\n"
        ">>Start PXE over IPv6.\r\n")

GP_DUMP = (
    "!!!! X64 Exception Type - 0D(#GP - General Protection)  CPU Apic ID - 00000000 !!!!\r\n"
    "ExceptionData - 0000000000000000\r\n"
    "RIP  - 000000007E8B1234, CS  - 0000000000000038, RFLAGS - 0000000000010206\r\n"
    "RAX  - AFAFAFAFAFAFAFAF, RCX - 000000007E8C0018, RDX - 0000000000000000\r\n"
    "RBX  - 000000007FF0E000, RSP - 000000007FF0DA18, RBP - 000000007FF0DA60\r\n"
    "RSI  - 0000000000000008, RDI - 000000007E8C0010\r\n"
    "R8   - 0000000000000000, R9  - 0000000000000000, R10 - 0000000000000000\r\n"
    "R11  - 0000000000000000, R12 - 0000000000000000, R13 - 0000000000000000\r\n"
    "R14  - 0000000000000000, R15 - 0000000000000000\r\n"
    "DS   - 0000000000000030, ES  - 0000000000000030, FS  - 0000000000000030\r\n"
    "GS   - 0000000000000030, SS  - 0000000000000030\r\n"
    "CR0  - 0000000080010033, CR2 - 0000000000000000, CR3 - 000000007FC01000\r\n"
    "CR4  - 0000000000000668, CR8 - 0000000000000000\r\n"
    "DR0  - 0000000000000000, DR1 - 0000000000000000, DR2 - 0000000000000000\r\n"
    "DR3  - 0000000000000000, DR6 - 00000000FFFF0FF0, DR7 - 0000000000000400\r\n"
    "GDTR - 000000007F9DC000 0000000000000047, LDTR - 0000000000000000\r\n"
    "IDTR - 000000007F2F6018 0000000000000FFF,   TR - 0000000000000000\r\n"
    "FXSAVE_STATE - 000000007FF0D670\r\n"
    "!!!! Find image based on IP(0x7E8B1234) /build/edk2/Build/Ovmf3264/DEBUG_GCC5/X64/NetworkPkg/Ip6Dxe/"
    "Ip6Dxe/DEBUG/Ip6Dxe.dll (ImageBase=000000007E8A4000, EntryPoint=000000007E8A52C1) !!!!\r\n")

PF_DUMP = (
    "!!!! X64 Exception Type - 0E(#PF - Page-Fault)  CPU Apic ID - 00000000 !!!!\n"
    "ExceptionData - 0000000000000002  I:0 R:0 U:0 W:1 P:0 PK:0 SS:0 SGX:0\n"
    "RIP  - 000000007EA11AB0, CS  - 0000000000000038, RFLAGS - 0000000000010246\n"
    "RAX  - 0000000000000000, RCX - 0000000000000010, RDX - 0000000000000000\n"
    "!!!! Can't find image information. !!!!\n")


def test_planted_gp_exception_in_serial():
    v = crashdet.classify(BOOT + GP_DUMP + "garbage after", "", None, 100.0)
    assert v.kind == "exception"
    assert v.type.startswith("#GP - General Protection") and "0x0D" in v.type
    assert v.rip == "0x7e8b1234"
    assert v.image == "Ip6Dxe.dll" and v.module == "Ip6Dxe"
    assert v.image_base == "0x7e8a4000"
    assert v.source == "serial"
    assert "RIP  - 000000007E8B1234" in v.evidence and "Find image" in v.evidence
    assert "garbage" not in v.evidence and "BdsDxe" not in v.evidence
    s = v.summary()
    assert "#GP" in s and "0x7e8b1234" in s and "Ip6Dxe.dll" in s


def test_page_fault_without_image_and_bytes_input():
    v = crashdet.classify(PF_DUMP.encode(), b"", None, 0.0)
    assert v.kind == "exception" and v.type.startswith("#PF - Page-Fault")
    assert v.rip == "0x7ea11ab0" and v.image is None


def test_ia32_exception():
    text = ("!!!! IA32 Exception Type - 06(#UD - Invalid Opcode)  CPU Apic ID - 00000000 !!!!\n"
            "EIP  - 7E8B1234, CS  - 00000010, EFLAGS - 00010206\n")
    v = crashdet.classify(text, "", None, 0.0)
    assert v.kind == "exception" and v.rip == "0x7e8b1234" and "#UD" in v.type


def test_two_exceptions_first_wins_rest_kept():
    v = crashdet.classify(GP_DUMP + PF_DUMP, "", None, 0.0)
    assert "#GP" in v.type and len(v.more) == 1 and "#PF" in v.more[0].type


def test_planted_assert_on_debugcon():
    dbg = ("Loading driver at 0x0007E8A4000 EntryPoint=0x0007E8A52C1 Ip6Dxe.efi\n"
           "ASSERT [TcpDxe] /build/edk2/NetworkPkg/TcpDxe/SockImpl.c(612): "
           "((BOOLEAN)(0==1))\n")
    v = crashdet.classify("", dbg, None, 0.0)
    assert v.kind == "assert"
    assert (v.module, v.file, v.line) == ("TcpDxe", "SockImpl.c", 612)
    assert v.type == "((BOOLEAN)(0==1))" and v.source == "debugcon"
    assert v.summary().startswith("ASSERT [TcpDxe] SockImpl.c(612)")


def test_exception_outranks_assert():
    v = crashdet.classify(GP_DUMP, "ASSERT [Ip6Dxe] Ip6Option.c(88): Len > 0\n", None, 0.0)
    assert v.kind == "exception" and v.more[0].kind == "assert"


def test_reset_second_sec_banner():
    dbg = "SecCoreStartupWithStack(0xFFFCC000, 0x820000)\nPlatform PEIM Loaded\n" * 2
    v = crashdet.classify("", dbg, None, 0.0)
    assert v.kind == "reset" and "SEC" in v.type


def test_reset_boot_manager_again():
    ser = ("BdsDxe: loading Boot0001 \"UEFI QEMU HARDDISK QM00001 \" from PciRoot(0x0)\r\n"
           "BdsDxe: starting Boot0001 \"UEFI QEMU HARDDISK QM00001 \" from PciRoot(0x0)\r\n"
           "fwnet-agent ready\r\n"
           "BdsDxe: loading Boot0001 \"UEFI QEMU HARDDISK QM00001 \" from PciRoot(0x0)\r\n")
    v = crashdet.classify(ser, "", None, 0.0)
    assert v.kind == "reset" and "boot manager" in v.type


def test_reset_agent_marker_and_resetsystem():
    ser = "fwnet-agent ready\nstuff\nfwnet-agent ready\n"
    assert crashdet.classify(ser, "", None, 0.0) is None  # not a marker unless the caller says so
    v = crashdet.classify(ser, "", None, 0.0, start_markers=[r"^fwnet-agent ready"])
    assert v.kind == "reset"
    v = crashdet.classify("", "DXE ResetSystem2: ResetType Warm, Call Depth = 1.\n", None, 0.0)
    assert v.kind == "reset" and v.type == "ResetSystem called"


def test_normal_boot_is_clean():
    ser = BOOT + "BdsDxe: loading Boot0002 \"EFI Internal Shell\" from Fv(7CB8BDC9)\r\n"
    assert crashdet.classify(ser, "SecCoreStartupWithStack(0xFFFCC000, 0x820000)\n", 50.0, 60.0) is None


def test_hang_only_when_reply_due_and_silent():
    now = 1000.0
    # silent for 20 s on both channels while a reply has been due for 30 s
    v = crashdet.classify(BOOT, "", now - 20, now, last_output_time=now - 25, reply_due_since=now - 30)
    assert v.kind == "hang" and "20.0 s" in v.type
    assert "last frame from the guest 20.0 s before" in v.evidence
    # a frame 2 s ago: alive
    assert crashdet.classify(BOOT, "", now - 2, now, last_output_time=now - 25, reply_due_since=now - 30) is None
    # a console byte 1 s ago: alive
    assert crashdet.classify(BOOT, "", now - 20, now, last_output_time=now - 1, reply_due_since=now - 30) is None
    # nothing due: a quiet guest is not hung
    assert crashdet.classify(BOOT, "", now - 20, now, last_output_time=now - 25) is None
    # due only 5 s ago: not yet
    assert crashdet.detect_hang(None, None, now, now - 5) is None
    assert crashdet.detect_hang(None, None, now, now - 15).kind == "hang"


def _pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, data in frames:
            f.write(struct.pack("<IIII", int(ts), int((ts % 1) * 1e6), len(data), len(data)) + data)


def test_last_guest_frame_from_capture(tmp_path):
    guest = bytes.fromhex("525400123456")
    other = bytes.fromhex("525400123502")
    eth = lambda src: b"\xff" * 6 + src + b"\x86\xdd" + b"\0" * 40
    p = tmp_path / "capture.pcap"
    _pcap(p, [(100.5, eth(guest)), (101.0, eth(other)), (102.25, eth(guest)), (110.0, eth(other))])
    assert abs(crashdet.last_guest_frame(str(p), "52:54:00:12:34:56") - 102.25) < 1e-6
    assert crashdet.last_guest_frame(str(p), "52:54:00:00:00:01") is None
    assert crashdet.last_guest_frame(str(tmp_path / "none.pcap"), "52:54:00:12:34:56") is None
    # the capture's silence decides the hang
    t = crashdet.last_guest_frame(str(p), "52:54:00:12:34:56")
    assert crashdet.classify("", "", t, 120.0, reply_due_since=101.0).kind == "hang"


def test_dump_kept_with_scenario(tmp_path):
    v = crashdet.classify(GP_DUMP, "", None, 0.0)
    path = crashdet.write_dump(v, str(tmp_path), "ip6-destopt-unknown-option")
    d = json.load(open(path))
    assert d["kind"] == "exception" and d["rip"] == "0x7e8b1234" and d["image"] == "Ip6Dxe.dll"
    txt = (tmp_path / "ip6-destopt-unknown-option.crash.txt").read_text()
    assert txt.startswith("CPU exception #GP") and "FXSAVE_STATE" in txt


def test_classify_run_reads_a_run_directory(tmp_path):
    import os
    g = tmp_path / "guest0"
    g.mkdir()
    (g / "serial.log").write_text(BOOT + GP_DUMP)
    v = crashdet.classify_run(str(tmp_path), 0.0)
    assert v.kind == "exception" and v.image == "Ip6Dxe.dll"
    (g / "serial.log").write_text(BOOT)
    (g / "debugcon.log").write_text("ASSERT [Dhcp6Dxe] /x/Dhcp6Io.c(1200): OptLen >= 4\n")
    assert crashdet.classify_run(str(tmp_path), 0.0).module == "Dhcp6Dxe"
    (g / "debugcon.log").write_text("")
    eth = b"\xff" * 6 + bytes.fromhex("525400123456") + b"\x86\xdd" + b"\0" * 40
    _pcap(g / "capture.pcap", [(1000.0, eth)])
    for f in ("serial.log", "debugcon.log"):
        os.utime(g / f, (990.0, 990.0))
    assert crashdet.classify_run(str(tmp_path), 1030.0, reply_due_since=1005.0).kind == "hang"
    assert crashdet.classify_run(str(tmp_path), 1012.0, reply_due_since=1005.0) is None
