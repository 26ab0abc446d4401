package pace

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// woken reports whether C holds a wake-up within d.
func woken(p *Pacer, d time.Duration) bool {
	select {
	case <-p.C:
		return true
	case <-time.After(d):
		return false
	}
}

func TestFirstItemAfterQuietWakesAtOnce(t *testing.T) {
	p := New(time.Hour)
	defer p.Stop()
	p.Added()
	select {
	case <-p.C:
	default:
		t.Fatal("the first item did not wake the consumer at once")
	}
}

// An item queued right after a take is not left behind: the timer wakes
// the consumer within the interval when no other item arrives.
func TestLastItemWakesByTimer(t *testing.T) {
	p := New(20 * time.Millisecond)
	defer p.Stop()
	p.Taking() // a take just now: the next item is not the first after a quiet interval
	p.Added()
	select {
	case <-p.C:
		t.Fatal("woken at once right after a take")
	default:
	}
	if !woken(p, 10*time.Second) {
		t.Fatal("the item's wake-up never came")
	}
}

// A take stops the timer: no wake-up is left over for items already taken.
func TestTakeStopsTimer(t *testing.T) {
	p := New(30 * time.Millisecond)
	defer p.Stop()
	p.Taking()
	p.Added()
	p.Taking()
	if woken(p, 100*time.Millisecond) {
		t.Fatal("woken for items already taken")
	}
}

// Nothing arrives, nothing wakes.
func TestIdleNeverWakes(t *testing.T) {
	p := New(5 * time.Millisecond)
	defer p.Stop()
	p.Taking()
	if woken(p, 50*time.Millisecond) {
		t.Fatal("woken with nothing queued")
	}
}

// Producers and a consumer at once: every item is taken, none waits for
// ever (run with -race).
func TestConcurrentProducersAllTaken(t *testing.T) {
	p := New(2 * time.Millisecond)
	defer p.Stop()
	var queued, taken atomic.Int64
	q := make(chan int, 1<<16)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-p.C:
			case <-stop:
				return
			}
			p.Taking()
			for n := len(q); n > 0; n-- {
				<-q
				taken.Add(1)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				q <- i
				queued.Add(1)
				p.Added()
				if i%100 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for taken.Load() < queued.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("taken %d of %d items", taken.Load(), queued.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	<-done
}
