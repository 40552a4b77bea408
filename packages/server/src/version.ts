/** Sprocket's own version, and the Flywheel API release whose shapes it follows. */
export const SPROCKET_VERSION = '0.1.0';
export const FLYWHEEL_API_RELEASE = '15.5.0';
