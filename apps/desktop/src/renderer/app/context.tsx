import { createContext, useContext, type ReactNode } from 'react';
import { useStore } from 'zustand';
import { useShallow } from 'zustand/react/shallow';
import type { Bridge } from '../bridge/types';
import type { AppState, AppStore } from '../state/store';

/** The bridge and the store, handed down once; components read state through selectors only. */
interface AppContext {
  bridge: Bridge;
  store: AppStore;
}

const Context = createContext<AppContext | null>(null);

export function AppProvider({ bridge, store, children }: AppContext & { children: ReactNode }) {
  return <Context.Provider value={{ bridge, store }}>{children}</Context.Provider>;
}

function useApp(): AppContext {
  const app = useContext(Context);
  if (!app) throw new Error('AppProvider is missing');
  return app;
}

export const useBridge = (): Bridge => useApp().bridge;
export const useAppStore = (): AppStore => useApp().store;

/** One value from the state; the selector must return something already in it (or a primitive). */
export function useAppState<T>(selector: (s: AppState) => T): T {
  return useStore(useApp().store, selector);
}

/** A derived array or object whose members are in the state: re-renders only when a member changes. */
export function useAppShallow<T>(selector: (s: AppState) => T): T {
  return useStore(useApp().store, useShallow(selector));
}
