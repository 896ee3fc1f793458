package org.onebit;

import java.nio.ByteBuffer;

/**
 * A packed binary network (a .onebit program) loaded by the onebit library and run on float
 * batches: the Java side of csrc/api/onebit.h, through the JNI library onebit_jni.
 *
 * <pre>
 * try (Program program = Program.load("model.onebit")) {
 *   float[] logits = program.run(images, batch);  // batch * outputSize() values
 * }
 * </pre>
 *
 * A file is untrusted input: loading checks it as the Python loader does and throws an
 * OnebitException naming what was wrong. One program may run on several threads at once.
 */
public final class Program implements AutoCloseable {
  static {
    System.loadLibrary("onebit_jni");
  }

  private long handle;

  private Program(long handle) {
    this.handle = handle;
  }

  /** Loads the program at {@code path}. */
  public static Program load(String path) {
    return new Program(loadPath(path));
  }

  /** Loads a program from the bytes of a .onebit file. */
  public static Program load(byte[] bytes) {
    return new Program(loadBytes(bytes));
  }

  /**
   * Loads a program from the remaining bytes of {@code buffer} (its position and limit are left
   * as they are). A direct buffer, such as a memory-mapped model file or an Android asset mapped
   * through its file descriptor, is read in place; another is copied first.
   */
  public static Program load(ByteBuffer buffer) {
    if (buffer == null) throw new OnebitException(OnebitException.ARGUMENT, "buffer is null");
    if (buffer.isDirect()) {
      return new Program(loadDirect(buffer, buffer.position(), buffer.remaining()));
    }
    byte[] bytes = new byte[buffer.remaining()];
    buffer.duplicate().get(bytes);
    return new Program(loadBytes(bytes));
  }

  /** Threads the kernels use, process-wide (1 to 256; 0: every hardware thread). */
  public static native void setThreads(int threads);

  /** The library's version. */
  public static native String version();

  /** One sample's input shape (torch's layout, no batch axis). */
  public long[] inputShape() {
    return shape(live(), true);
  }

  /** One sample's output shape. */
  public long[] outputShape() {
    return shape(live(), false);
  }

  /** Values per sample of the input. */
  public int inputSize() {
    return size(live(), true);
  }

  /** Values per sample of the output. */
  public int outputSize() {
    return size(live(), false);
  }

  /**
   * The outputs of {@code batch} samples held in {@code x} (batch * inputSize() values, each
   * finite and within +-1e6): batch * outputSize() floats.
   */
  public float[] run(float[] x, int batch) {
    return run(live(), x, batch);
  }

  /**
   * The outputs of the samples held in {@code x}: its length must be a multiple of inputSize();
   * x.length / inputSize() * outputSize() floats.
   */
  public float[] run(float[] x) {
    if (x == null) throw new OnebitException(OnebitException.ARGUMENT, "x is null");
    int inputs = inputSize();
    if (x.length % inputs != 0) {
      throw new OnebitException(
          OnebitException.INPUT,
          "x holds " + x.length + " values, not a whole number of samples of " + inputs);
    }
    return run(live(), x, x.length / inputs);
  }

  /**
   * The names of a switched program's switches (a converted Bit-Mixer network's layers whose bit
   * width is chosen at run time); empty for a plain program.
   */
  public String[] switchNames() {
    long live = live();
    String[] names = new String[switchCount(live)];
    for (int i = 0; i < names.length; ++i) names[i] = switchName(live, i);
    return names;
  }

  /** The widths switch {@code index} may take. */
  public int[] switchOptions(int index) {
    return switchOptions(live(), index);
  }

  /** The width each switch runs at in this program, in switch order. */
  public int[] bits() {
    long live = live();
    int[] bits = new int[switchCount(live)];
    for (int i = 0; i < bits.length; ++i) bits[i] = switchBits(live, i);
    return bits;
  }

  /**
   * This program with switch i at {@code bits[i]}: a new Program, closed on its own, that shares
   * this one's weights (either may be closed first).
   */
  public Program withBits(int... bits) {
    if (bits == null) throw new OnebitException(OnebitException.ARGUMENT, "bits is null");
    return new Program(withBits(live(), bits));
  }

  /** Frees the program; later calls throw IllegalStateException. */
  @Override
  public void close() {
    if (handle != 0) {
      free(handle);
      handle = 0;
    }
  }

  private long live() {
    if (handle == 0) throw new IllegalStateException("the program is closed");
    return handle;
  }

  private static native long loadPath(String path);

  private static native long loadBytes(byte[] bytes);

  private static native long loadDirect(ByteBuffer buffer, int offset, int length);

  private static native long[] shape(long handle, boolean input);

  private static native int size(long handle, boolean input);

  private static native float[] run(long handle, float[] x, int batch);

  private static native void free(long handle);

  private static native int switchCount(long handle);

  private static native String switchName(long handle, int index);

  private static native int[] switchOptions(long handle, int index);

  private static native int switchBits(long handle, int index);

  private static native long withBits(long handle, int[] bits);
}
