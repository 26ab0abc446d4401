// Package par runs independent pieces of CPU-bound work on every core.
package par

import (
	"runtime"
	"sync"
)

// Do calls f(0) … f(n-1), GOMAXPROCS of them at a time, and returns when
// all have returned. The calls must not depend on one another's order.
func Do(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
