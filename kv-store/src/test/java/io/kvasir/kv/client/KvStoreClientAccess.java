package io.kvasir.kv.client;

/** Package-private parts of the client, for the store's tests in another package. */
public final class KvStoreClientAccess {
    private KvStoreClientAccess() {
    }

    public static int partitionOf(String hexKey, int partitions) {
        return StoreMembers.partitionOf(hexKey, partitions);
    }
}
