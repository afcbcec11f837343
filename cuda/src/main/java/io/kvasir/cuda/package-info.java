/**
 * The engine on NVIDIA GPUs: CUDA kernels (src/main/cuda, compiled by nvcc at build time where it
 * exists) loaded through the driver API, and the checks that hold them to the CPU's results.
 */
package io.kvasir.cuda;
