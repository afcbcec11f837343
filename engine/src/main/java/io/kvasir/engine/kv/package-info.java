/**
 * Paged KV cache: fixed-size blocks of all layers' K/V for consecutive tokens
 * ({@link io.kvasir.engine.kv.KvBlockPool}) and per-sequence block tables
 * ({@link io.kvasir.engine.kv.BlockTable}). A block is the unit the KV store will ship and keep.
 */
package io.kvasir.engine.kv;
