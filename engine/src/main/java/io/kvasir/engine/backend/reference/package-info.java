/** The scalar, single-threaded oracle backend. */
package io.kvasir.engine.backend.reference;
