/**
 * The Vector API CPU backend: one row-kernel class per weight format (F32, F16, BF16, Q8_0), each
 * with a scalar path ({@code -Dkvasir.cpu.vectorBits=0}) and a vector path, and a worker pool that
 * splits matmul rows across cores. The only package that imports {@code jdk.incubator.vector}.
 */
package io.kvasir.engine.backend.cpu;
