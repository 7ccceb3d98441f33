//go:build !linux

package poll

// Poller is not available on this platform: New always fails.
type Poller struct{}

// New reports ErrUnsupported.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Add is never called: New fails.
func (p *Poller) Add(fd int) error { return ErrUnsupported }

// Remove is never called: New fails.
func (p *Poller) Remove(fd int) error { return ErrUnsupported }

// Wait is never called: New fails.
func (p *Poller) Wait(ready []int) ([]int, bool, error) {
	return ready, false, ErrUnsupported
}

// Wake is never called: New fails.
func (p *Poller) Wake() {}

// Close is never called: New fails.
func (p *Poller) Close() error { return nil }
