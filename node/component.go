package node

import (
	"context"
	"errors"
	"fmt"
)

// A Component is a part of a running node. Start begins its work (a
// listener, a loop); Close ends it and releases what it holds, whether or
// not it was started, with ctx bounding any drain.
type Component interface {
	Start(ctx context.Context) error
	Close(ctx context.Context) error
}

// Funcs adapts functions to a Component; a nil function does nothing.
type Funcs struct {
	StartFunc func(ctx context.Context) error
	CloseFunc func(ctx context.Context) error
}

// Start calls StartFunc.
func (f Funcs) Start(ctx context.Context) error {
	if f.StartFunc == nil {
		return nil
	}
	return f.StartFunc(ctx)
}

// Close calls CloseFunc.
func (f Funcs) Close(ctx context.Context) error {
	if f.CloseFunc == nil {
		return nil
	}
	return f.CloseFunc(ctx)
}

// Closer is a Component with nothing to start that closes with f.
func Closer(f func() error) Component {
	return Funcs{CloseFunc: func(context.Context) error { return f() }}
}

// Parts is a node's components in start order. The zero value is empty
// and ready.
type Parts struct {
	names []string
	list  []Component
}

// Add appends c, opened but not started, under name (errors say it).
// Close will close it even if Start never runs.
func (p *Parts) Add(name string, c Component) {
	p.names = append(p.names, name)
	p.list = append(p.list, c)
}

// Len is the number of components added.
func (p *Parts) Len() int { return len(p.list) }

// Start starts every component in the order added. On the first error it
// stops and returns it as it is (a component's errors name what failed);
// the caller then calls Close, which closes them all.
func (p *Parts) Start(ctx context.Context) error {
	for _, c := range p.list {
		if err := c.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close closes every component, last added first, and forgets them; it
// returns every error, joined.
func (p *Parts) Close(ctx context.Context) error {
	var errs []error
	for i := len(p.list) - 1; i >= 0; i-- {
		if err := p.list[i].Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.names[i], err))
		}
	}
	p.list, p.names = nil, nil
	return errors.Join(errs...)
}
