/** Prometheus text metrics shared by every role, and the {@code /metrics} endpoint of roles without an HTTP API. */
package io.kvasir.kv.metrics;
