/**
 * What prefill and decode nodes share: engine blocks as store blocks
 * ({@link io.kvasir.node.EngineBlocks}), the key chain of a model ({@link io.kvasir.node.BlockKeyChain})
 * and the store as a prefix cache ({@link io.kvasir.node.StorePrefixCache}).
 */
package io.kvasir.node;
