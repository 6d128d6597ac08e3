/** @tsunagu/terminal: everything a terminal does, without a UI. */
export {};
