/** Greedy, temperature, top-k and top-p sampling with a seeded generator. */
package io.kvasir.engine.sampling;
