package s3blob

// SetPageSize sets the ListObjectsV2 page size, so tests can exercise paging
// with few objects.
func (s *Store) SetPageSize(n int32) { s.pageSize = n }
