package dev.quantflow.gpu;

/** What a device allocation is for, as the memory metrics break it down. */
public enum MemoryCategory {
    WEIGHTS, KV_CACHE, WORKSPACE
}
