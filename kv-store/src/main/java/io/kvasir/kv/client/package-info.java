/**
 * How nodes reach the store: {@link io.kvasir.kv.client.KvStoreClient} routes each key to its
 * partition owner over gRPC and falls back to other members.
 */
package io.kvasir.kv.client;
