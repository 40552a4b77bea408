/**
 * Sprocket's version: what the server reports at /version, the CLI prints for --version, the SDK
 * sends in its User-Agent and the engine records in each job's profile. Server, engine, CLI and SDK
 * are released together, so they share this one number (a test holds every package.json to it).
 */
export const SPROCKET_VERSION = '0.1.0';
