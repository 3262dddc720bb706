package dev.quantflow.engine.backend;

/** Device memory a backend holds on one device, by purpose, and the device's total. */
public record DeviceMemoryUsage(String device, long weightBytes, long kvCacheBytes, long workspaceBytes, long totalBytes) {}
