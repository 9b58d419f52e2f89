package proxy

import "io"

// readAll reads r to the end like io.ReadAll, but starts from a buffer of
// sizeHint+1 bytes when the length is known (Content-Length): the body is
// then read into one allocation of its size, instead of io.ReadAll's 512-byte
// start grown and copied along the way (every request reads two bodies, its
// own and the upstream's answer).
func readAll(r io.Reader, sizeHint int64) ([]byte, error) {
	if sizeHint <= 0 || sizeHint > 16<<20 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, sizeHint+1) // +1: the read that sees EOF needs room
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) { // longer than announced: grow like io.ReadAll
			b = append(b, 0)[:len(b)]
		}
	}
}
