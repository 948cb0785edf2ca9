// The append-only guard of lprx's audit table: a Cassandra trigger that lets a mutation
// through only when it inserts rows that do not exist yet. Cassandra's MODIFY permission
// covers INSERT, UPDATE, DELETE and TRUNCATE alike, so a role that must add audit rows
// could otherwise also rewrite or remove them. Refused, for every role: deleting a
// partition, a range or a row; an UPDATE (a row without the primary-key liveness that
// only INSERT writes); a TTL (an expiring row deletes itself); an INSERT over an existing
// row. TRUNCATE bypasses triggers: the guardrail drop_truncate_table_enabled=false refuses
// it to every non-superuser. Only a superuser can drop this trigger.
//
// Compiled by connectors/servers (javac against the Cassandra jars) into
// <data>/triggers/lprx-triggers.jar; attached by `lprx setup`:
//   CREATE TRIGGER audit_append_only ON <ks>.audit_events USING 'lprx.cassandra.AppendOnly'
package lprx.cassandra;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;

import org.apache.cassandra.cql3.QueryProcessor;
import org.apache.cassandra.db.Clustering;
import org.apache.cassandra.db.ConsistencyLevel;
import org.apache.cassandra.db.LivenessInfo;
import org.apache.cassandra.db.Mutation;
import org.apache.cassandra.db.partitions.Partition;
import org.apache.cassandra.db.rows.Cell;
import org.apache.cassandra.db.rows.Row;
import org.apache.cassandra.db.rows.Unfiltered;
import org.apache.cassandra.db.rows.UnfilteredRowIterator;
import org.apache.cassandra.exceptions.InvalidRequestException;
import org.apache.cassandra.schema.ColumnMetadata;
import org.apache.cassandra.schema.TableMetadata;
import org.apache.cassandra.triggers.ITrigger;

public class AppendOnly implements ITrigger {
    @Override
    public Collection<Mutation> augment(Partition update) {
        TableMetadata table = update.metadata();
        if (!update.partitionLevelDeletion().isLive()) {
            refuse(table, "delete a partition");
        }
        if (table.partitionKeyColumns().size() != 1) {
            refuse(table, "write a table whose partition key has several columns");
        }
        String select = existenceQuery(table);
        try (UnfilteredRowIterator rows = update.unfilteredIterator()) {
            if (!rows.staticRow().isEmpty()) {
                refuse(table, "write static columns");
            }
            while (rows.hasNext()) {
                Unfiltered unfiltered = rows.next();
                if (unfiltered.isRangeTombstoneMarker()) {
                    refuse(table, "delete a range of rows");
                }
                Row row = (Row) unfiltered;
                if (!row.deletion().isLive()) {
                    refuse(table, "delete a row");
                }
                LivenessInfo liveness = row.primaryKeyLivenessInfo();
                if (liveness.isEmpty()) {
                    refuse(table, "update a row (audit rows are only ever inserted)");
                }
                if (liveness.isExpiring()) {
                    refuse(table, "insert a row with a TTL");
                }
                for (Cell<?> cell : row.cells()) {
                    if (cell.isExpiring()) {
                        refuse(table, "write a value with a TTL");
                    }
                }
                Clustering<?> clustering = row.clustering();
                Object[] key = new Object[1 + clustering.size()];
                key[0] = update.partitionKey().getKey();
                for (int i = 0; i < clustering.size(); i++) {
                    key[i + 1] = clustering.bufferAt(i);
                }
                if (!QueryProcessor.execute(select, ConsistencyLevel.QUORUM, key).isEmpty()) {
                    refuse(table, "overwrite an existing row");
                }
            }
        }
        return Collections.emptyList();
    }

    private static String existenceQuery(TableMetadata table) {
        List<String> where = new ArrayList<>();
        for (ColumnMetadata column : table.partitionKeyColumns()) {
            where.add(column.name.toCQLString() + " = ?");
        }
        for (ColumnMetadata column : table.clusteringColumns()) {
            where.add(column.name.toCQLString() + " = ?");
        }
        String first = table.partitionKeyColumns().get(0).name.toCQLString();
        return "SELECT " + first + " FROM " + table.keyspace + "." + table.name
            + " WHERE " + String.join(" AND ", where);
    }

    private static void refuse(TableMetadata table, String what) {
        throw new InvalidRequestException(
            table.keyspace + "." + table.name + " is append-only: may not " + what);
    }
}
