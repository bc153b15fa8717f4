export const renderScale = (_json: unknown): string => '';
