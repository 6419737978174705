/** The page's one store: the state, `dispatch` through the reducer, and listeners told after each change. */
import { reduce, type Action, type PageState } from './page-state';

export type Listener = (state: PageState, previous: PageState, action: Action) => void;

export interface Store {
  getState: () => PageState;
  dispatch: (action: Action) => void;
  /** Called after every action that changed the state; returns an unsubscribe. */
  subscribe: (listener: Listener) => () => void;
}

export function createStore(initial: PageState): Store {
  let state = initial;
  const listeners = new Set<Listener>();
  return {
    getState: () => state,
    dispatch(action) {
      const previous = state;
      state = reduce(state, action);
      if (state === previous) return;
      for (const l of listeners) l(state, previous, action);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
