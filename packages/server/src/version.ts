/** The Flywheel API release whose shapes Sprocket follows (Sprocket's own version is `SPROCKET_VERSION`). */
export const FLYWHEEL_API_RELEASE = '15.5.0';
