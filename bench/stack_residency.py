#!/usr/bin/env python3
"""Which pages of each coroutine stack are resident, in a running corio program.

    bench/stack_residency.py PID     (as root: reads /proc/PID/pagemap and mem)

A corio stack is a slot (engine/stack.c): guard page | usable stack | top page, where the
top page holds struct corio_stack at a colour offset (1024..3520 bytes in), the task control
block above it and the stack's top below it. Slots are carved from slabs (one mapping for
many stacks on Linux 6.13+) or are mappings of their own. The script finds every header in
the resident pages of the writable anonymous mappings (struct corio_stack's lo, size and
map_size fields describe their own slot), reads the present bit of each of the slot's pages
from pagemap, and prints: resident pages per stack, the residency of each page counted from
the top of the slot, where parked tasks' stack pointers are, and the rest of the process's
anonymous memory (the heap, other mappings), so that a per-connection figure can be split
into its parts.
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


def headers_in(mem, page_addr):
    """The stack headers in the page at page_addr: (slot_lo, slot_size, colour, depth) for
    each, where depth is how far below the header the parked task's saved stack pointer is
    (the control block's struct corio_fiber: sp, then stack_lo), None if not found."""
    try:
        mem.seek(page_addr)
        data = mem.read(PAGE)
    except OSError:
        return []
    found = []
    for off in range(0, PAGE - 24, 64):
        lo, size, map_size = struct.unpack_from("QQQ", data, off)
        top = page_addr + off
        if lo == 0 or lo % PAGE or lo + size != top or map_size != size - off + 2 * PAGE:
            continue
        depth = None
        for w in range(off + 64, min(off + 64 + 512, PAGE - 16), 8):
            sp, stack_lo = struct.unpack_from("QQ", data, w)
            if stack_lo == lo and lo <= sp < top:
                depth = top - sp
                break
        found.append((lo - PAGE, map_size, off, depth))
    return found


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
    rss = rss_kib(pid)
    slots = {}  # slot_lo: (slot_size, colour, depth)
    anon = []
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap, open(f"/proc/{pid}/mem", "rb") as mem:
        for lo, hi, perms, name in mappings(pid):
            if not perms.startswith("rw") or not (name == "" or name.startswith("[")):
                continue
            anon.append((lo, hi, name))
            if name != "":
                continue
            bits = present(pagemap, lo, (hi - lo) // PAGE)
            for i, b in enumerate(bits):
                if b:
                    for slot, size, colour, depth in headers_in(mem, lo + i * PAGE):
                        slots[slot] = (size, colour, depth)
        if not slots:
            sys.exit(f"no corio stacks found in process {pid}")
        found = []  # (colour, [present bit of page i counted from the top of the slot])
        for slot, (size, colour, _) in slots.items():
            bits = present(pagemap, slot, size // PAGE)[::-1]
            found.append((colour, bits[:-1]))  # the guard page is never present
    stacks = len(found)
    npages = max(len(b) for _, b in found)
    per_stack = collections.Counter(sum(b) for _, b in found)
    total = sum(k * v for k, v in per_stack.items())
    print(f"{stacks} stacks; resident pages per stack: {total / stacks:.2f} "
          f"({total * PAGE / stacks:.0f} bytes, {total * PAGE // 1024} KiB in all)")
    for k in sorted(per_stack):
        print(f"  {k} pages: {per_stack[k]} stacks ({100 * per_stack[k] / stacks:.1f}%)")
    print("residency by page, counted from the top of the slot, and the colours (bytes into")
    print("the top page where the header sits) of the stacks where it is resident:")
    for i in range(npages):
        hit = [c for c, b in found if i < len(b) and b[i]]
        if not hit:
            continue
        what = "top page: header, control block, stack top" if i == 0 else \
            f"stack, {(i - 1) * 4}-{i * 4} KiB below the top page"
        print(f"  page {i:2d} ({what}): {100 * len(hit) / stacks:5.1f}%, "
              f"{describe_colours(found, i)}")
    depths = sorted(d for _, _, d in slots.values() if d is not None)
    if depths:
        print(f"parked tasks' saved stack pointer, bytes below the stack's top: min {depths[0]}, "
              f"median {depths[len(depths) // 2]}, max {depths[-1]}")
    stack_kib = total * PAGE // 1024
    rest = sorted(((rss.get(lo, 0), hi - lo, name or "anon", lo) for lo, hi, name in anon),
                  reverse=True)
    print(f"writable anonymous mappings: Rss {sum(r for r, *_ in rest)} KiB in all, of which "
          f"stacks {stack_kib} KiB; those above 16 KiB (stacks' slabs included):")
    for r, size, name, lo in rest:
        if r > 16:
            print(f"  {name:10s} {lo:#x} size {size // 1024} KiB, Rss {r} KiB")


if __name__ == "__main__":
    main()
