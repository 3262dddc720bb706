#!/usr/bin/env python3
# Disassembles the C2 nmethods of a -XX:CompileCommand=print log taken without hsdis (hex bytes) with
# objdump, one listing per nmethod. Usage: bench/c2-disasm.py LOG > LISTING.
import re, subprocess, sys, tempfile
text = open(sys.argv[1]).read()
blocks = re.split(r'(?=Compiled method \()', text)
n = 0
for blk in blocks:
    m = re.match(r'Compiled method \((c\d)\)\s+\d+\s+\d+\s+(%?)\s*\d+\s+(\S+)', blk)
    if not m or m.group(1) != 'c2': continue
    mc = blk.split('[MachCode]', 1)
    if len(mc) < 2: continue
    body = mc[1].split('[/MachCode]', 1)[0]
    base = None; data = bytearray()
    for line in body.splitlines():
        lm = re.match(r'\s+0x([0-9a-f]+): ((?:[0-9a-f]{2,4}\s?\|?\s?)+)$', line)
        if not lm: continue
        addr = int(lm.group(1), 16)
        if base is None: base = addr
        if addr != base + len(data): continue  # duplicate address (comment lines)
        data += bytes.fromhex(lm.group(2).replace('|', '').replace(' ', ''))
    n += 1
    tmp = tempfile.NamedTemporaryFile(suffix='.bin'); tmp.write(data); tmp.flush(); fn = tmp.name
    out = subprocess.run(['objdump', '-D', '-b', 'binary', '-m', 'i386:x86-64', '--adjust-vma=0x%x' % base, fn], capture_output=True, text=True).stdout
    osr = 'OSR' if m.group(2) == '%' else 'normal'
    print('=== c2 %s %s: %d bytes' % (osr, m.group(3), len(data)))
    print('\n'.join(l for l in out.splitlines() if re.search(r'^\s+[0-9a-f]+:', l)))
