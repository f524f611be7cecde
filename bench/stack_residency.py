#!/usr/bin/env python3
"""Which pages of each coroutine stack are resident, in a running corio program.

    bench/stack_residency.py PID [STACK_KIB]     (as root: reads /proc/PID/pagemap and mem)

A corio stack is one anonymous mapping (engine/stack.c): guard page | usable stack | header
pages (colour offset, struct corio_stack, the task control block); in /proc/PID/maps it shows
as a 4 KiB ---p area (the guard) under a read-write one. STACK_KIB (default 76, the 64 KiB
default stack) picks the mappings of that size, guard included. For each it reads the present bit
of every page from pagemap and the colour from the header (struct corio_stack's first field
points at the usable stack's lowest byte), then prints: resident pages per stack, the
residency of each page counted from the top of the mapping, the residency of the second
header page by colour, and where the rest of the process's anonymous memory is (the heap,
other mappings), so that a per-connection figure can be split into its parts.
"""
import collections
import struct
import sys

PAGE = 4096


def mappings(pid):
    for line in open(f"/proc/{pid}/maps"):
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        name = parts[5] if len(parts) > 5 else ""
        yield lo, hi, parts[1], name


def present(pagemap, lo, npages):
    pagemap.seek(lo // PAGE * 8)
    raw = pagemap.read(npages * 8)
    return [(v >> 63) & 1 for v in struct.unpack(f"{npages}Q", raw)]


def header_of(mem, rw_lo, rw_size):
    """(colour, depth): the colour offset, where struct corio_stack sits above the usable
    stack (found by its first field, which points at the usable stack's lowest byte, rw_lo),
    and how far below that the parked task's saved stack pointer is (the task's struct
    corio_fiber: sp, then stack_lo == rw_lo). None for what cannot be read."""
    header = rw_lo + rw_size - 2 * PAGE  # the header starts at the top of the usable stack
    try:
        mem.seek(header)
        data = mem.read(2 * PAGE)
    except OSError:
        return None, None
    for off in range(0, PAGE, 64):
        if struct.unpack_from("Q", data, off)[0] == rw_lo:
            top = header + off
            for w in range(off + 64, off + 64 + 512, 8):
                sp, lo = struct.unpack_from("QQ", data, w)
                if lo == rw_lo and rw_lo <= sp < top:
                    return off, top - sp
            return off, None
    return None, None


def rss_kib(pid):
    """Rss of each mapping from smaps, keyed by start address."""
    out, start = {}, None
    for line in open(f"/proc/{pid}/smaps"):
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            start = int(head.split("-")[0], 16)
        elif head == "Rss:":
            out[start] = int(line.split()[1])
    return out


def describe_colours(found, i):
    """The colours for which page i is resident in every stack of that colour, as ranges, and
    the count of colours where it is resident in only some."""
    seen = collections.defaultdict(lambda: [0, 0])  # colour: [resident, stacks]
    for c, b in found:
        if c is not None:
            seen[c][0] += b[i]
            seen[c][1] += 1
    always = [c for c in sorted(seen) if seen[c][0] == seen[c][1]]
    some = [c for c in sorted(seen) if 0 < seen[c][0] < seen[c][1]]
    if len(always) == len(seen):
        return "every colour"
    ranges, start = [], None
    for k, c in enumerate(always):
        if start is None:
            start = c
        if k + 1 == len(always) or always[k + 1] != c + 64:
            ranges.append(f"{start}" if start == c else f"{start}..{c}")
            start = None
    text = "colours " + (", ".join(ranges) if ranges else "none")
    if some:
        text += f"; in some stacks of {len(some)} other colours ({some[0]}..{some[-1]})"
    return text


def main():
    pid = int(sys.argv[1])
    map_size = int(sys.argv[2] if len(sys.argv) > 2 else 76) * 1024
    npages = map_size // PAGE - 1  # the read-write pages: the guard is a mapping of its own
    rss = rss_kib(pid)
    found = []  # (colour or None, [present bit of page i counted from the top])
    other, prev, depths = [], None, []
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap, open(f"/proc/{pid}/mem", "rb") as mem:
        for lo, hi, perms, name in mappings(pid):
            guarded = prev is not None and prev[:2] == (lo - PAGE, lo) and prev[2] == "---p"
            prev = (lo, hi, perms)
            if guarded and hi - lo == npages * PAGE and name == "" and perms.startswith("rw"):
                bits = present(pagemap, lo, npages)[::-1]
                colour, depth = header_of(mem, lo, hi - lo)
                found.append((colour, bits))
                if depth is not None:
                    depths.append(depth)
            elif perms.startswith("rw") and (name == "" or name.startswith("[")):
                other.append((rss.get(lo, 0), hi - lo, name or "anon", lo))
    if not found:
        sys.exit(f"no {map_size // 1024} KiB stack mappings in process {pid}")
    stacks = len(found)
    per_stack = collections.Counter(sum(b) for _, b in found)
    total = sum(k * v for k, v in per_stack.items())
    print(f"{stacks} stack mappings of {map_size // 1024} KiB; resident pages per stack: "
          f"{total / stacks:.2f} ({total * PAGE / stacks:.0f} bytes, "
          f"{total * PAGE // 1024} KiB in all)")
    for k in sorted(per_stack):
        print(f"  {k} pages: {per_stack[k]} stacks ({100 * per_stack[k] / stacks:.1f}%)")
    print("residency by page, counted from the top of the mapping, and the colours (bytes the")
    print("header sits above the usable stack's top, 0..4032) of the stacks where it is resident:")
    for i in range(npages):
        hit = [c for c, b in found if b[i]]
        if not hit:
            continue
        what = ("header, upper page" if i == 0 else "header, lower page" if i == 1
                else f"stack, {(i - 2) * 4}-{(i - 1) * 4} KiB below the usable top")
        colours = describe_colours(found, i)
        print(f"  page {i:2d} ({what}): {100 * len(hit) / stacks:5.1f}%, {colours}")
    if depths:
        depths.sort()
        print(f"parked tasks' saved stack pointer, bytes below the stack's top: min {depths[0]}, "
              f"median {depths[len(depths) // 2]}, max {depths[-1]}")
    rest = sorted(other, reverse=True)
    print(f"other writable anonymous mappings: Rss {sum(r for r, *_ in rest)} KiB in all; "
          "those above 16 KiB:")
    for r, size, name, lo in rest:
        if r > 16:
            print(f"  {name:10s} {lo:#x} size {size // 1024} KiB, Rss {r} KiB")

if __name__ == "__main__":
    main()
