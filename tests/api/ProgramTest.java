import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import org.onebit.OnebitException;
import org.onebit.Program;

/**
 * The Java binding's contract (tests/api/test_java_binding.py runs it): failures are
 * OnebitExceptions with the C API's status and message, never a crash. Usage: ProgramTest
 * MODEL.onebit [SWITCHED.onebit] (float-output programs whose input has 784 values; the second a
 * converted Bit-Mixer MLP of three switches of 2, 3 or 4 bits, defaults 4). Prints one line per
 * check, then the switched program's logits at widths 2,3,4; exits 1 if any check failed.
 */
public final class ProgramTest {
  private static int failures = 0;

  private static void check(boolean ok, String what) {
    System.out.println((ok ? "ok   " : "FAIL ") + what);
    if (!ok) ++failures;
  }

  private interface Call {
    void run();
  }

  private static void refused(Call call, int status, String text, String what) {
    try {
      call.run();
      check(false, what + " (no exception)");
    } catch (OnebitException error) {
      check(error.status() == status && error.getMessage().contains(text),
          what + " [" + error.status() + ": " + error.getMessage() + "]");
    }
  }

  public static void main(String[] args) throws Exception {
    check(Program.version().equals("0.1.0"), "version");
    refused(() -> Program.load("/nonexistent/model.onebit"), OnebitException.FILE, "not found",
        "a missing file is refused");
    refused(() -> Program.load(new byte[] {1, 2, 3}), OnebitException.FILE, "not a readable",
        "bytes that are not a program are refused");
    byte[] bytes = Files.readAllBytes(Paths.get(args[0]));
    float[] x = new float[2 * 784];
    for (int i = 0; i < x.length; ++i) x[i] = ((i * 37) % 255) / 255.0f;
    try (Program program = Program.load(args[0]); Program copy = Program.load(bytes)) {
      check(Arrays.equals(program.inputShape(), new long[] {1, 28, 28}), "input shape");
      check(program.inputSize() == 784 && program.outputSize() == 10, "sizes");
      float[] a = program.run(x, 2);
      check(a.length == 20 && Arrays.equals(a, copy.run(x, 2)), "the bytes' program agrees");
      check(Arrays.equals(a, program.run(x)), "run(x) infers the batch");
      refused(() -> program.run(new float[785]), OnebitException.INPUT, "whole number",
          "run(x) refuses a partial sample");
      ByteBuffer heap = ByteBuffer.allocate(bytes.length + 3);
      heap.position(3);
      heap.put(bytes).position(3);
      try (Program fromHeap = Program.load(heap)) {
        check(heap.position() == 3 && Arrays.equals(a, fromHeap.run(x, 2)),
            "a heap ByteBuffer's remaining bytes load");
      }
      try (FileChannel channel = FileChannel.open(Paths.get(args[0]));
          Program mapped = Program.load(channel.map(FileChannel.MapMode.READ_ONLY, 0,
              channel.size()))) {
        check(Arrays.equals(a, mapped.run(x, 2)), "a memory-mapped (direct) ByteBuffer loads");
      }
      ByteBuffer direct = ByteBuffer.allocateDirect(bytes.length);
      direct.put(bytes).flip().limit(bytes.length - 1);
      refused(() -> Program.load(direct), OnebitException.FILE, "",
          "a direct buffer missing the last byte is refused");
      Program.setThreads(2);
      check(Arrays.equals(a, program.run(x, 2)), "2 threads agree");
      refused(() -> program.run(new float[5], 2), OnebitException.INPUT, "holds 5 values",
          "a wrong input length is refused");
      float[] bad = x.clone();
      bad[3] = Float.NaN;
      refused(() -> program.run(bad, 2), OnebitException.INPUT, "finite", "a NaN is refused");
      refused(() -> Program.setThreads(-1), OnebitException.ARGUMENT, "threads",
          "a negative thread count is refused");
      program.close();
      try {
        program.run(x, 2);
        check(false, "a closed program is refused");
      } catch (IllegalStateException error) {
        check(true, "a closed program is refused");
      }
    }
    if (args.length > 1) checkSwitched(args[1], Arrays.copyOf(x, 784));
    System.out.println(failures + " failed");
    System.exit(failures == 0 ? 0 : 1);
  }

  private static void checkSwitched(String path, float[] x) {
    Program mixed;
    try (Program program = Program.load(path)) {
      check(program.switchNames().length == 3
              && Arrays.equals(program.switchOptions(2), new int[] {2, 3, 4})
              && Arrays.equals(program.bits(), new int[] {4, 4, 4}),
          "three switches of 2, 3 or 4 bits, at 4");
      refused(() -> program.switchOptions(3), OnebitException.ARGUMENT, "switch index 3",
          "a switch index past the count is refused");
      refused(() -> program.withBits(2, 5, 4), OnebitException.INPUT, "not 5",
          "a width off its switch's options is refused");
      refused(() -> program.withBits(2, 3), OnebitException.INPUT, "one width per switch",
          "a setting of the wrong length is refused");
      try (Program same = program.withBits(4, 4, 4)) {
        check(Arrays.equals(program.run(x), same.run(x)), "the default setting agrees");
      }
      mixed = program.withBits(2, 3, 4);
    }
    float[] logits = mixed.run(x);
    check(Arrays.equals(mixed.bits(), new int[] {2, 3, 4}),
        "a setting runs after its program is closed");
    mixed.close();
    StringBuilder line = new StringBuilder("logits 2,3,4:");
    for (float value : logits) line.append(' ').append(value);
    System.out.println(line);
  }
}
