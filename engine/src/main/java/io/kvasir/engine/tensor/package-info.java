/** Element types ({@link io.kvasir.engine.tensor.DType}) and weight matrices in their stored format. */
package io.kvasir.engine.tensor;
