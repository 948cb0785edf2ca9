// The append-only guard of lprx's audit table: a Cassandra trigger that lets a mutation
// through only when it inserts rows that do not exist yet. Cassandra's MODIFY permission
// covers INSERT, UPDATE, DELETE and TRUNCATE alike, so a role that must add audit rows
// could otherwise also rewrite or remove them. Refused, for every role: deleting a
// partition, a range or a row; an UPDATE (a row without the primary-key liveness that
// only INSERT writes); a TTL (an expiring row deletes itself); an INSERT over an existing
// row. An INSERT of a row that exists with the very same values is refused too (nothing is
// ever rewritten) but says so ("already holds this row"), so a writer that delivers an
// event again (after a restart) can count it as stored, and dead-letter only one that
// differs ("may not overwrite an existing row"). TRUNCATE bypasses triggers: the guardrail drop_truncate_table_enabled=false refuses
// it to every non-superuser. Only a superuser can drop this trigger.
//
// Compiled by connectors/servers (javac against the Cassandra jars) into
// <data>/triggers/lprx-triggers.jar; attached by `lprx setup`:
//   CREATE TRIGGER audit_append_only ON <ks>.audit_events USING 'lprx.cassandra.AppendOnly'
package lprx.cassandra;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.apache.cassandra.cql3.QueryProcessor;
import org.apache.cassandra.cql3.UntypedResultSet;
import org.apache.cassandra.db.Clustering;
import org.apache.cassandra.db.ConsistencyLevel;
import org.apache.cassandra.db.LivenessInfo;
import org.apache.cassandra.db.Mutation;
import org.apache.cassandra.db.marshal.MapType;
import org.apache.cassandra.db.partitions.Partition;
import org.apache.cassandra.db.rows.Cell;
import org.apache.cassandra.db.rows.ComplexColumnData;
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
        String select = rowQuery(table);
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
                UntypedResultSet stored = QueryProcessor.execute(select, ConsistencyLevel.QUORUM, key);
                if (!stored.isEmpty()) {
                    if (sameValues(table, row, stored.one())) {
                        throw new InvalidRequestException(table.keyspace + "." + table.name
                            + " already holds this row, with the same values: nothing written");
                    }
                    refuse(table, "overwrite an existing row (with other values)");
                }
            }
        }
        return Collections.emptyList();
    }

    // Whether the inserted row carries exactly the stored row's values: each regular column
    // null in both, or equal (a map entry by entry).
    private static boolean sameValues(TableMetadata table, Row row, UntypedResultSet.Row stored) {
        for (ColumnMetadata column : table.regularColumns()) {
            String name = column.name.toString();
            ByteBuffer storedValue = stored.has(name) ? stored.getBytes(name) : null;
            if (column.isSimple()) {
                Cell<?> cell = row.getCell(column);
                ByteBuffer value = cell == null || cell.isTombstone() ? null : cell.buffer();
                if (!Objects.equals(value, storedValue)) {
                    return false;
                }
            } else if (column.type instanceof MapType) {
                MapType<?, ?> type = (MapType<?, ?>) column.type;
                Map<Object, Object> inserted = new HashMap<>();
                ComplexColumnData data = row.getComplexColumnData(column);
                if (data != null) {
                    for (Cell<?> cell : data) {
                        if (!cell.isTombstone()) {
                            inserted.put(type.getKeysType().compose(cell.path().get(0)),
                                type.getValuesType().compose(cell.buffer()));
                        }
                    }
                }
                Map<?, ?> held = storedValue == null
                    ? Collections.emptyMap() : type.getSerializer().deserialize(storedValue);
                if (!inserted.equals(new HashMap<Object, Object>(held))) {
                    return false;
                }
            } else {
                return false; // no other multi-cell type in an audit table: never "the same"
            }
        }
        return true;
    }

    private static String rowQuery(TableMetadata table) {
        List<String> where = new ArrayList<>();
        for (ColumnMetadata column : table.partitionKeyColumns()) {
            where.add(column.name.toCQLString() + " = ?");
        }
        for (ColumnMetadata column : table.clusteringColumns()) {
            where.add(column.name.toCQLString() + " = ?");
        }
        return "SELECT * FROM " + table.keyspace + "." + table.name
            + " WHERE " + String.join(" AND ", where);
    }

    private static void refuse(TableMetadata table, String what) {
        throw new InvalidRequestException(
            table.keyspace + "." + table.name + " is append-only: may not " + what);
    }
}
