package dev.quantflow.engine.backend;

/** One device a backend can use: its id ("cuda:0"), a display name, its memory and a detail line. */
public record ComputeDevice(String id, String name, long memoryBytes, String detail) {}
