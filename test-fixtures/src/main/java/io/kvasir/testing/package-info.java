/**
 * What the modules' tests share: the golden models and llama.cpp's outputs on them
 * ({@link io.kvasir.testing.Golden}), prompt builders ({@link io.kvasir.testing.Prompts}) and a
 * one-member KV store on free ports ({@link io.kvasir.testing.LocalStore}).
 */
package io.kvasir.testing;
