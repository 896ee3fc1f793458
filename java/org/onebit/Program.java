package org.onebit;

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

  private static native long[] shape(long handle, boolean input);

  private static native int size(long handle, boolean input);

  private static native float[] run(long handle, float[] x, int batch);

  private static native void free(long handle);
}
