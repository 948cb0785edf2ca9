// Formats the KRaft storage with arguments read from a file (then deleted), so the SCRAM
// passwords of --add-scram never appear on a command line. Run by connectors/servers as
// `java -cp <lib>/* KafkaFormat.java <args file>` (Java's single-file source launcher).
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

public class KafkaFormat {
    public static void main(String[] argv) throws Exception {
        Path file = Path.of(argv[0]);
        List<String> args = Files.readAllLines(file);
        Files.delete(file);
        kafka.tools.StorageTool.main(args.toArray(new String[0]));
    }
}
