package io.kvasir.engine.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

class FairQueueTest {
    record Item(String tenant, int n) {
    }

    private static final Map<String, Integer> WEIGHTS = Map.of("a", 3, "b", 1, "c", 1);

    @Test
    void backloggedTenantsAreServedInProportionToTheirWeights() {
        FairQueue<Item> q = new FairQueue<>(Item::tenant, i -> WEIGHTS.get(i.tenant()));
        for (int i = 0; i < 30; i++) {
            q.add(new Item("b", i)); // b floods first
        }
        for (int i = 0; i < 30; i++) {
            q.add(new Item("a", i));
        }
        List<String> order = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            order.add(q.poll().tenant());
        }
        assertEquals(List.of("b", "a", "a", "a", "b", "a", "a", "a", "b", "a", "a", "a", "b", "a", "a", "a", "b", "a", "a",
                "a"), order, "a (weight 3) takes three admissions per turn of b (weight 1)");
        assertEquals(40, q.size());
    }

    @Test
    void eachTenantKeepsItsOwnOrderAndALateTenantWaitsOnlyOneTurn() {
        FairQueue<Item> q = new FairQueue<>(Item::tenant, i -> WEIGHTS.get(i.tenant()));
        for (int i = 0; i < 8; i++) {
            q.add(new Item("a", i));
        }
        assertEquals(new Item("a", 0), q.poll());
        q.add(new Item("c", 0));
        assertEquals(new Item("a", 1), q.poll());
        assertEquals(new Item("a", 2), q.poll());
        assertEquals(new Item("c", 0), q.poll(), "c comes in once a's turn of three is used");
        assertEquals(new Item("a", 3), q.poll());
        assertEquals(List.of(4, 5, 6, 7), List.of(q.poll().n(), q.poll().n(), q.poll().n(), q.poll().n()));
        assertEquals(null, q.poll());
    }
}
