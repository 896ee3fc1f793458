import java.io.DataInputStream;
import java.io.FileInputStream;
import java.io.IOException;
import org.onebit.OnebitException;
import org.onebit.Program;

/**
 * Classifies MNIST-style images with a .onebit program from Java (the C example's twin):
 *
 * <pre>java -Djava.library.path=DIR -cp CLASSES Classify MODEL.onebit IMAGES.idx3-ubyte</pre>
 *
 * Reads the images from an IDX file of unsigned bytes, scales them to [0, 1] (x / 255) and prints
 * one predicted class per line.
 */
public final class Classify {
  private static final int BATCH = 256;

  public static void main(String[] args) throws IOException {
    if (args.length != 2) {
      System.err.println("usage: Classify MODEL.onebit IMAGES.idx3-ubyte");
      System.exit(1);
    }
    int count, rows, cols;
    byte[] pixels;
    try (DataInputStream in = new DataInputStream(new FileInputStream(args[1]))) {
      if (in.readInt() != 0x803) throw new IOException(args[1] + " is not an IDX file of images");
      count = in.readInt();
      rows = in.readInt();
      cols = in.readInt();
      pixels = new byte[Math.multiplyExact(Math.multiplyExact(count, rows), cols)];
      in.readFully(pixels);
    }
    StringBuilder out = new StringBuilder();
    try (Program program = Program.load(args[0])) {
      int perImage = rows * cols, classes = program.outputSize();
      if (program.inputSize() != perImage) {
        throw new OnebitException(OnebitException.INPUT, "the program takes "
            + program.inputSize() + " values per sample; the images have " + perImage);
      }
      for (int start = 0; start < count; start += BATCH) {
        int batch = Math.min(BATCH, count - start);
        float[] x = new float[batch * perImage];
        for (int i = 0; i < x.length; ++i) x[i] = (pixels[start * perImage + i] & 0xff) / 255.0f;
        float[] logits = program.run(x, batch);
        for (int i = 0; i < batch; ++i) {
          int best = 0;
          for (int c = 1; c < classes; ++c) {
            if (logits[i * classes + c] > logits[i * classes + best]) best = c;
          }
          out.append(best).append('\n');
        }
      }
    } catch (OnebitException error) {
      System.err.println(error.getMessage());
      System.exit(2);
    }
    System.out.print(out);
  }
}
