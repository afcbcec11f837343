/** The {@code kvasir} executable: one class per sub-command. */
package io.kvasir.cli;
