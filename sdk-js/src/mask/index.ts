// The privacy choke point's one door. Everything outside `mask/` imports from here and
// nowhere deeper (test/boundary.test.ts fails otherwise): the recorder asks the masker
// what a node, attribute, text, field, URL or stylesheet may become, and the player's
// inert pass shares the CSS tokenizer.

export { createMasker, isStyleElement, Scope } from './policy';
export type { ElementInfo, FieldValue, Masker } from './policy';
export { customPayload, FIELD_PLACEHOLDER, isCustomTag, maskText, uiTextKey } from './text';
export type { CustomPayload } from './text';
export { sanitizeUrl, sanitizeSrcset, compileRoutes, templatePath } from './url';
export type { RouteTable } from './url';
export { cssStream, CssToken, sanitizeDeclarations, sanitizeStylesheet, sanitizeValue } from './css';
export type { CssHooks, CssStream } from './css';
export { looksLikePhi, PHI_FORMATS } from './detector';
