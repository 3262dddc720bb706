package dev.quantflow.gpu;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/** Bytes allocated on one device, per category; updated by DeviceBuffer on allocate and free. */
public final class DeviceMemory {
    private final EnumMap<MemoryCategory, AtomicLong> bytes = new EnumMap<>(MemoryCategory.class);

    public DeviceMemory() {
        for (MemoryCategory c : MemoryCategory.values()) bytes.put(c, new AtomicLong());
    }

    void add(MemoryCategory c, long delta) {
        bytes.get(c).addAndGet(delta);
    }

    public long bytes(MemoryCategory c) {
        return bytes.get(c).get();
    }

    public long total() {
        long t = 0;
        for (AtomicLong v : bytes.values()) t += v.get();
        return t;
    }

    public Map<MemoryCategory, Long> snapshot() {
        EnumMap<MemoryCategory, Long> m = new EnumMap<>(MemoryCategory.class);
        bytes.forEach((c, v) -> m.put(c, v.get()));
        return m;
    }
}
