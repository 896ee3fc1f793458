package org.onebit;

/** A failure of the onebit library: the status of csrc/api/onebit.h and its one-line message. */
public class OnebitException extends RuntimeException {
  /** The file is missing, unreadable, corrupt or not a program. */
  public static final int FILE = 1;
  /** The program's graph is inconsistent or beyond the limits. */
  public static final int PROGRAM = 2;
  /** A call's input or batch is refused (shape, values, memory). */
  public static final int INPUT = 3;
  /** An argument out of range. */
  public static final int ARGUMENT = 4;
  /** Out of memory, or a bug: the message says which. */
  public static final int INTERNAL = 5;

  private final int status;

  public OnebitException(int status, String message) {
    super(message);
    this.status = status;
  }

  /** One of FILE, PROGRAM, INPUT, ARGUMENT, INTERNAL. */
  public int status() {
    return status;
  }
}
