package store

// RandomFieldPool is how many positions HRANDFIELD draws among for the hash
// at key (0 when the key is missing or not a hash), so that the tests can
// check that a hash that was large once draws among the fields it has now,
// not among the holes its deleted fields left.
func RandomFieldPool(s *Store, key []byte) int {
	n := 0
	s.inspect(key, func(_ *shard, e *entry, _ *clock) {
		switch hv := e.hash(); {
		case hv == nil:
		case hv.index != nil:
			n = len(hv.draw)
		default:
			n = len(hv.fields.items)
		}
	})
	return n
}
